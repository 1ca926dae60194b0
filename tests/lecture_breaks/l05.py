"""Deliberate breaks of lectures/05_contractive_autoencoders.ipynb: each is a plausible slip that must
make the named claims fail (applied all at once, on the stand-in)."""
from lecture_breaks import Break

BREAKS = [
    # the closed form without the square of the sigmoid's slope
    Break("return (h * (1 - h)) ** 2 @ (W ** 2).sum(dim=1)", "return (h * (1 - h)) @ (W ** 2).sum(dim=1)",
          claims=("largest |closed form − torch.func|",)),
    # the CAE's penalty weight forgotten: the 'CAE' is the plain autoencoder
    Break("LAMBDA = 0.1 ", "LAMBDA = 0.0 ",
          claims=("‖J‖_F CAE / plain", "code moves CAE / plain")),
    # the sweep's largest λ replaced by 0: the 'CAE' there is the plain autoencoder, and costs no reconstruction
    Break("lambdas = [0.003, 0.01, 0.03, 0.1, 0.3, 1.0, 3.0]", "lambdas = [0.003, 0.01, 0.03, 0.1, 0.3, 1.0, 0.0]",
          claims=("test error CAE / plain at the sweep's largest λ",)),
    # the 'DAE' trained without noise: it is the plain autoencoder too
    Break('"DAE": train(dae_step)', '"DAE": train(plain_step)',
          claims=("‖J‖_F DAE / plain", "‖J‖_F CAE / DAE", "test error DAE / plain", "noisy error DAE / plain",
                  "noisy error DAE / CAE")),
    # the 'small' input step made large: the sigmoid units saturate and first order no longer holds
    Break("EPS = 0.01", "EPS = 30.0", claims=("code moves / (‖J‖_F / √D)",)),
    # on the toy manifold, the plain autoencoder given the penalty ...
    Break('("plain", 0.0)', '("plain", 0.1)', claims=("toy plain AE: along / out of plane", "toy plain AE: 3rd / 2nd")),
    # ... and the CAE a penalty so strong that its code no longer follows the circle
    Break('("CAE", 0.1)', '("CAE", 10.0)',
          claims=("toy CAE: along / out of plane", "toy CAE: smallest of the two largest", "toy CAE: 3rd / 2nd",
                  "toy CAE: reconstruction error")),
]
