"""The numerical claims of lectures/01_linear_ae_pca.ipynb, pinned in fast mode.

The few lines each claim needs are written again here (tests never import notebooks); the
training settings are the lecture's, so a change there that breaks a claim fails here.
"""
import pytest
import torch
from torch import nn

from ae_helpers import fit, load_dataset, reconstruct

K = 10          # code size of the linear autoencoder on digits
K_FACES = 50    # eigenfaces used for recognition


def reconstruction_error(x, x_hat):
    """The lecture's convention: squared error summed over pixels, averaged over images."""
    return ((x - x_hat) ** 2).sum(dim=1).mean()


def principal_angles(A, B):
    """Angles (degrees) between the column spans of A and B, both (D, k)."""
    q1, q2 = torch.linalg.qr(A.double()).Q, torch.linalg.qr(B.double()).Q
    return torch.rad2deg(torch.arccos(torch.linalg.svdvals(q1.T @ q2).clamp(max=1.0)))


def nearest_neighbour_accuracy(gallery, y_gallery, queries, y_queries):
    nearest = torch.cdist(queries, gallery).argmin(dim=1)
    return (y_gallery[nearest] == y_queries).float().mean().item()


@pytest.fixture(scope="module")
def lecture(fast_module_env):
    """What the lecture computes, in fast mode, with an empty data folder (no downloads)."""
    digits, faces = load_dataset("digits"), load_dataset("faces")
    x = digits.flat("train")
    xc = x - x.mean(dim=0)
    model = nn.Sequential(nn.Linear(xc.shape[1], K, bias=False), nn.Linear(K, xc.shape[1], bias=False))
    fit(model, xc, lambda m, batch: reconstruction_error(batch, m(batch)),
        epochs=300, fast_epochs=150, batch_size=250, lr=0.005, progress=False)
    _, s, vh = torch.linalg.svd(xc, full_matrices=False)
    return {"xc": xc, "model": model, "eigenvalues": s ** 2 / len(xc), "W": vh[:K].T,
            "V": model[0].weight.detach().cpu(), "U": model[1].weight.detach().cpu(), "faces": faces}


def test_linear_autoencoder_learns_the_pca_subspace(lecture):
    largest = principal_angles(lecture["U"], lecture["W"]).max().item()
    assert largest < 2.0, f"largest principal angle to the PCA subspace is {largest:.2f}°"
    unrelated = principal_angles(torch.randn(*lecture["W"].shape, generator=torch.Generator().manual_seed(1)),
                                 lecture["W"]).max().item()
    assert unrelated > 45.0, "the angle must tell a random subspace from the PCA subspace"


def test_reconstruction_errors_agree(lecture):
    xc, W = lecture["xc"], lecture["W"]
    ae = reconstruction_error(xc, reconstruct(lecture["model"], xc)).item()
    pca = reconstruction_error(xc, xc @ W @ W.T).item()
    discarded = lecture["eigenvalues"][K:].sum().item()
    assert pca == pytest.approx(discarded, rel=1e-4), "PCA error must equal the sum of discarded eigenvalues"
    assert pca <= ae < pca * (1 + 1e-3), f"autoencoder error {ae:.5f} vs PCA {pca:.5f}"


def test_pythagoras_projected_variance_plus_error_is_total(lecture):
    xc, W = lecture["xc"], lecture["W"]
    projected_points = xc @ W @ W.T
    projected = (projected_points ** 2).sum(dim=1).mean()
    error = reconstruction_error(xc, projected_points)
    total = (xc ** 2).sum(dim=1).mean()
    assert abs(projected + error - total).item() <= 1e-4 * total.item()
    assert projected.item() == pytest.approx(lecture["eigenvalues"][:K].sum().item(), rel=1e-4)


def test_only_the_subspace_is_determined_not_the_basis(lecture):
    U, V, W, xc = lecture["U"], lecture["V"], lecture["W"], lecture["xc"]
    assert (U.T @ U - torch.eye(K)).norm() > 0.5, "U should not have orthonormal columns"
    cosines = (torch.nn.functional.normalize(U, dim=0) * W).sum(dim=0).abs()
    assert cosines.max() < 0.95, "U's columns should not be the principal directions"
    assert (V - U.T).norm() / U.norm() > 0.2, "the encoder should not be the transposed decoder"
    projector = W @ W.T
    on_data = (xc @ (U @ V - projector).T).norm() / (xc @ projector).norm()
    assert on_data < 0.03, f"on the data UV should act as the PCA projector (off by {on_data:.1%})"


@pytest.fixture(scope="module")
def eigenfaces(lecture):
    faces = lecture["faces"]
    x_train, x_test = faces.flat("train"), faces.flat("test")
    mean = x_train.mean(dim=0)
    components = torch.linalg.svd(x_train - mean, full_matrices=False).Vh[:K_FACES]
    return faces, x_train, x_test, lambda x: (x - mean) @ components.T


def test_eigenface_recognition_is_about_as_good_as_raw_pixels(eigenfaces):
    faces, x_train, x_test, weights = eigenfaces
    eigen = nearest_neighbour_accuracy(weights(x_train), faces.y_train, weights(x_test), faces.y_test)
    pixels = nearest_neighbour_accuracy(x_train, faces.y_train, x_test, faces.y_test)
    assert eigen >= 0.85, f"eigenface nearest-neighbour accuracy {eigen:.1%}"
    assert eigen >= pixels - 0.05, f"eigenfaces {eigen:.1%} vs raw pixels {pixels:.1%}"


def test_a_lighting_ramp_breaks_eigenface_recognition(eigenfaces):
    faces, x_train, x_test, weights = eigenfaces
    h, w = faces.image_shape
    ramp = torch.linspace(-1.0, 1.0, w).repeat(h, 1).reshape(-1)
    gallery = weights(x_train)
    clean = nearest_neighbour_accuracy(gallery, faces.y_train, weights(x_test), faces.y_test)
    lit = nearest_neighbour_accuracy(gallery, faces.y_train, weights((x_test + 0.2 * ramp).clamp(0, 1)),
                                     faces.y_test)
    assert lit <= clean - 0.15, f"a ramp of 0.2 only moved accuracy from {clean:.1%} to {lit:.1%}"
