"""Deliberate breaks of lectures/08_siamese_networks.ipynb: together they fail every claim."""
from lecture_breaks import Break

BREAKS = [
    # a quarter of the pairs similar instead of half: the pairs are no longer balanced
    Break("n_similar = n_pairs // 2", "n_similar = n_pairs // 4",
          claims=("share of similar pairs among the balanced pairs",)),
    # a step of 0 places inside the anchor's group is allowed: some pairs join an image with itself
    Break("step = 1 + (u * (n_c - 1)).long()", "step = (u * n_c).long()",
          claims=("no pair of an image with itself",)),
    # 'random' pairs that compare each anchor with itself
    Break("(y_seen[a] == y_seen[b])", "(y_seen[a] == y_seen[a])",
          claims=("share of similar pairs among random pairs",)),
    # the pair labels read the wrong way round (y = 1 taken as dissimilar): digits and faces
    Break("return pair_loss(d, y, MARGIN).mean()", "return pair_loss(d, 1 - y, MARGIN).mean()",
          claims=("Siamese AUC, new images of the seen classes", "Siamese AUC minus the best baseline's, seen",
                  "Siamese AUC, seen minus unseen", "Siamese lead over the best baseline, seen minus unseen",
                  "Siamese AUC, new people",
                  "Siamese AUC minus the best baseline's, new people", "genuine pairs of test people accepted",
                  "precision@")),
    # positive and negative swapped: the triplet loss pulls other people closer
    Break("triplet_loss(unit(m(b[0])), unit(m(b[1])), unit(m(b[2]))", "triplet_loss(unit(m(b[0])), unit(m(b[2])), unit(m(b[1]))",
          claims=("triplet AUC minus pixels' AUC",)),
    # the mean image added instead of subtracted: no centring
    Break("cosine_auc(z - z.mean(dim=0), y_eval)", "cosine_auc(z + z.mean(dim=0), y_eval)",
          claims=("new faces, pixels: cosine of centred minus Euclidean AUC",)),
]
