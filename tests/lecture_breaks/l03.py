"""Deliberate breaks of lectures/03_sparse_autoencoders.ipynb: each must fail the claims it names."""
from lecture_breaks import Break

BREAKS = [
    # every unit of the overcomplete AE starts dead (as a too-large learning rate leaves them): it copies nothing
    Break("over_ae = mlp([D, H, D])\n",
          "over_ae = mlp([D, H, D])\nnn.init.constant_(over_ae[0].bias, -100.0)\n",
          claims=("overcomplete AE's units on", "overcomplete / undercomplete AE test error",
                  "noise passed: overcomplete / undercomplete", "Jacobian singular values within 0.1 of 1")),
    # no L1 penalty: as many active units and as small an error as without it
    Break("LAMBDA_L1 = 0.1", "LAMBDA_L1 = 0.0",
          claims=("active ReLU units per input: L1 / no penalty", "test error: L1 / no penalty")),
    # the KL without its second term: negative for q > ρ, and not the Bernoulli KL
    Break(" + (1 - rho) * (1 - q).log())", ")",
          claims=("KL(ρ‖q) > 0", "largest difference from torch.distributions")),
    # the penalty forgotten in the loss: every β trains the same unpenalised network
    Break('return {"loss": rec + beta * penalty,', 'return {"loss": rec,',
          claims=("|mean ρ̂_j - ρ|", "spread of ρ̂_j", "active units per input: β", "test error: β")),
    # the β = 0 network is never trained: its units stay at the target they start at
    Break("    kl_aes[beta] = sigmoid_ae()\n",
          "    kl_aes[beta] = sigmoid_ae()\n    if beta == 0:\n        continue\n",
          claims=("mean ρ̂_j without the penalty",)),
    # the sign of x* flipped: the least, not the most, activating unit-norm input
    Break("return w / w.norm(dim=1, keepdim=True)", "return -w / w.norm(dim=1, keepdim=True)",
          claims=("every unit's pre-activation at x*",)),
    # no L1 penalty on the toy dictionary: it finds the features no better than PCA
    Break("ALPHA = 0.3", "ALPHA = 0.0",
          claims=("mean max |cosine| of the sparse dictionary", "mean max |cosine|: sparse dictionary - PCA",
                  "mean max |cosine|: sparse dictionary - no penalty")),
]
