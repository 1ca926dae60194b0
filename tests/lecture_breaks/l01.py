"""Deliberate breaks of lectures/01_linear_ae_pca.ipynb: each must make the claims it names fail."""
from lecture_breaks import Break

BREAKS = [
    # the loss convention broken: mean over pixels instead of the sum, so the error is no longer
    # the discarded variance and Pythagoras no longer adds up (training itself barely changes)
    Break("dim=1).square().mean()", "dim=1).square().mean() / x.shape[1]",
          claims=("|PCA error − sum of discarded", "PCA: |projected variance + error")),
    # far too little training: the autoencoder has not found the PCA subspace yet
    Break("fast_epochs=150", "fast_epochs=3",
          claims=("largest principal angle", "autoencoder error / PCA error", "on the training images")),
    # the wrong principal directions: components 2..K+1 instead of 1..K
    Break("W = Vh[:K].T", "W = Vh[1:K + 1].T", claims=("PCA: |projected variance − sum of the top",)),
    # wrong baselines for "U is not the PCA basis": each compares a matrix with itself
    Break("(U.T @ U - torch.eye(K)).norm()", "(W.T @ W - torch.eye(K)).norm()", claims=("‖UᵀU − I‖",)),
    Break("* W).sum(dim=0).abs()", "* torch.nn.functional.normalize(U, dim=0)).sum(dim=0).abs()",
          claims=("largest |cos|",)),
    Break("(V - U.T).norm() / U.norm()", "(U.T - U.T).norm() / U.norm()", claims=("‖V − Uᵀ‖",)),
    # eigenvalues divided by the number of pixels instead of the number of faces
    Break("face_eigenvalues = s_f ** 2 / Nf", "face_eigenvalues = s_f ** 2 / Df", claims=("largest ‖C w_i",)),
    # a single eigenface cannot tell people apart
    Break("K_FACES = 50", "K_FACES = 1",
          claims=("nearest-neighbour accuracy on", "eigenface accuracy − raw-pixel")),
    # a ramp a hundred times weaker changes nothing
    Break("torch.linspace(-1.0, 1.0, w)", "torch.linspace(-0.01, 0.01, w)",
          claims=("eigenface accuracy lost to a ramp", "raw-pixel accuracy lost to a ramp", "length of the ramp")),
    # the share measured on the last eigenfaces (least variance) instead of the first
    Break("(change @ eigenfaces[:K_FACES].T)", "(change @ eigenfaces[-K_FACES:].T)", claims=("share of the ramp",)),
    # no shift at all
    Break("shift = max(1, round(0.08 * w))", "shift = 0", claims=("eigenface accuracy lost to a shift",)),
]
