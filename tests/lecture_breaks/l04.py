"""Deliberate breaks of lectures/04_denoising_autoencoders.ipynb: each is a plausible slip that must
make the named claims fail (applied all at once, on the stand-in)."""
from lecture_breaks import Break

BREAKS = [
    # the DAE of section 3 trained with no noise: it is the plain overcomplete network again
    Break("dae = train(denoising_step(gaussian_noise, SIGMA))", "dae = train(denoising_step(gaussian_noise, 0 * SIGMA))",
          claims=("DAE − noisy input", "DAE − best plain AE", "plain overcomplete AE − DAE", "the best σ_train",
                  "PSNR on clean test images falls", "Gaussian DAE − plain AE")),
    # a sweep with no too-little end (it starts at the useful level 0.15) that ends far beyond any useful level: that DAE
    # answers a constant, and the drop at the low end vanishes (the σ = 0 break above alone left it at 1.03 dB on the stand-in)
    Break("SIGMAS = (0.05, 0.15, 0.3, 0.6, 1.0)", "SIGMAS = (0.15, 0.15, 0.3, 0.6, 30.0)",
          claims=("DAE at σ_train = 30.0 − mean training image", "PSNR on noisy test images, drop")),
    # the masking DAE trained with no masking
    Break("masked_dae = train(denoising_step(masking, R_MASK))", "masked_dae = train(denoising_step(masking, 0 * R_MASK))",
          claims=("masking DAE − mean training image", "masking DAE − Gaussian DAE")),
    # the toy DAE trained to reproduce its corrupted input instead of the clean point
    Break("((model(x_tilde) - batch) ** 2).sum(dim=1).mean()", "((model(x_tilde) - x_tilde) ** 2).sum(dim=1).mean()",
          claims=("mean cosine between g(f(x̃)) − x̃ and the direction", "median length of g(f(x̃)) − x̃",
                  "mean cosine between g(f(x̃)) − x̃ and σ²")),
    # the MAE-style loss on the visible pixels instead of the masked ones
    Break("return error[masked].mean()", "return error[~masked].mean()",
          claims=("MAE-style model − mean training image", "MAE-style model − pixel-masking DAE")),
]
