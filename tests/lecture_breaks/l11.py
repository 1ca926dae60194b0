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
    # the two maps swapped: the "t-SNE map" is PCA's and the "PCA map" is t-SNE's
    Break('    maps[name] = {"t-SNE": TSNE(2, perplexity=30, init="pca", random_state=0).fit_transform(code),\n'
          '                  "PCA": PCA(2).fit_transform(code)}',
          '    maps[name] = {"t-SNE": PCA(2).fit_transform(code),\n'
          '                  "PCA": TSNE(2, perplexity=30, init="pca", random_state=0).fit_transform(code)}',
          claims=("deep AE (ch. 02): 5-NN accuracy, code minus t-SNE map", "deep AE (ch. 02): 5-NN accuracy, t-SNE map minus PCA map",
                  "deep AE (ch. 02): distance correlation", "VAE mean μ (ch. 06): 5-NN accuracy, code minus t-SNE map",
                  "VAE mean μ (ch. 06): 5-NN accuracy, t-SNE map minus PCA map", "VAE mean μ (ch. 06): distance correlation")),
    # clusters drawn at random instead of by k-means: they say nothing about the classes
    Break("    clusters = KMeans(10, n_init=10, random_state=0).fit_predict(points)",
          "    clusters = np.random.default_rng(0).integers(0, 10, len(points))",
          claims=("deep AE (ch. 02): k-means NMI", "VAE mean μ (ch. 06): k-means NMI")),
]
