"""Deliberate breaks of lectures/02_deep_autoencoders.ipynb: each must fail the claims it names."""
from lecture_breaks import Break

BREAKS = [
    # the sweep's autoencoders trained on uniform noise instead of images: no better than PCA, nor with a larger code
    Break("histories[d] = fit(aes[d], x_train, ae_step", "histories[d] = fit(aes[d], torch.rand_like(x_train), ae_step",
          claims=("deep AE / PCA test error at d = 2", "deep AE / PCA test error at d = 4",
                  "deep AE test error at d = 4 / at d = 2")),
    # every test error computed with the d = 2 model: the error no longer falls with d
    Break("ae_test_error = {d: reconstruction_error(x_test, reconstruct_in_batches(aes[d], x_test))",
          "ae_test_error = {d: reconstruction_error(x_test, reconstruct_in_batches(aes[2], x_test))",
          claims=("deep AE test error at d = 4 / at d = 2", "deep AE test error at d = 32 / at d = 4")),
    # training codes paired with the wrong labels: the latent vote is no better than chance
    Break("codes = {d: (apply_in_batches(aes[d][0], x_train),",
          "codes = {d: (apply_in_batches(aes[d][0], x_train[torch.randperm(len(x_train))]),",
          claims=("kNN accuracy at d = 2", "kNN accuracy: deep AE codes at d = 4")),
    # the "normal" autoencoder trained on the anomalies only: they now score lowest
    Break("normal_idx = torch.nonzero(~torch.isin(y_train, ANOMALIES))",
          "normal_idx = torch.nonzero(torch.isin(y_train, ANOMALIES))",
          claims=("ROC AUC of the deep AE's anomaly score",)),
    # made-up codes that copy training codes: no hole to fall into
    Break("def random_codes(train_codes, n, kind, generator):\n",
          "def random_codes(train_codes, n, kind, generator):\n"
          "    return train_codes[:n] + 1e-3 * torch.randn(n, train_codes.shape[1], generator=generator)\n",
          claims=("uniform codes' distance", "Gaussian codes' distance")),
    # the few labels shuffled: the classifier learns nothing
    Break("x_few, y_few = x_train[labelled], y_train[labelled]",
          "x_few, y_few = x_train[labelled], y_train[labelled][torch.randperm(len(labelled))]",
          claims=("pretrained classifier's test accuracy",)),
]
