"""Deliberate breaks of lectures/11_embeddings.ipynb: together they fail every claim."""
from lecture_breaks import Break

BREAKS = [
    # word vectors that learned nothing: the skip-gram's input vectors replaced by random ones, the co-occurrence
    # counts shuffled over the words before PCA
    Break("word_vectors = skipgram.v.weight.detach().cpu()",
          "word_vectors = torch.randn(V, DIM)",
          claims=("SGNS: cosine of singular/plural pairs minus random pairs", "SGNS: analogy accuracy")),
    Break("log_counts = torch.log1p(C)",
          "log_counts = torch.log1p(C)[torch.randperm(V)]",
          claims=("PCA: cosine of singular/plural pairs minus random pairs",)),
    # captions that do not belong to their images: nothing to align, zero-shot at chance; the probe still learns
    Break("    row = y.cpu() * len(TRAIN_TEMPLATES)",
          "    row = y.cpu()[torch.randperm(len(y))] * len(TRAIN_TEMPLATES)",
          claims=("zero-shot test accuracy", "linear probe minus zero-shot accuracy")),
    # the "t-SNE map" is a random projection of the code, and the "PCA map" is the t-SNE map
    Break('    maps[name] = {"t-SNE": TSNE(2, perplexity=30, init="pca", random_state=0).fit_transform(code),\n'
          '                  "PCA": PCA(2).fit_transform(code)}',
          '    maps[name] = {"t-SNE": code @ np.random.default_rng(0).normal(size=(Z, 2)),\n'
          '                  "PCA": TSNE(2, perplexity=30, init="pca", random_state=0).fit_transform(code)}',
          claims=("deep AE (ch. 02): 5-NN accuracy, code minus t-SNE map", "deep AE (ch. 02): 5-NN accuracy, t-SNE map minus PCA map",
                  "deep AE (ch. 02): distance correlation", "VAE mean μ (ch. 06): 5-NN accuracy, code minus t-SNE map",
                  "VAE mean μ (ch. 06): 5-NN accuracy, t-SNE map minus PCA map", "VAE mean μ (ch. 06): distance correlation")),
    # codes that say nothing about the image: k-means on noise
    Break('codes = {"deep AE (ch. 02)": apply_in_batches(autoencoder[0], x_test[:N_MAP].reshape(N_MAP, -1).to(DEVICE)).numpy(),',
          'codes = {"deep AE (ch. 02)": np.random.default_rng(1).normal(size=(N_MAP, Z)),',
          claims=("deep AE (ch. 02): k-means NMI",)),
    Break('         "VAE mean μ (ch. 06)": apply_in_batches(vae.mean, x_test[:N_MAP].reshape(N_MAP, -1).to(DEVICE)).numpy()}',
          '         "VAE mean μ (ch. 06)": np.random.default_rng(2).normal(size=(N_MAP, Z))}',
          claims=("VAE mean μ (ch. 06): k-means NMI",)),
]
