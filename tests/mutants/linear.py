"""Mutants of notebook 02's solutions (linear classifiers)."""

from tests.mutants import Mutant

NB_ID = "02_linear_classifiers"
CELLS = ("imports", "svm-naive-solution", "svm-vectorized-solution",
         "softmax-naive-solution", "softmax-vectorized-solution",
         "linear-classifier-solution")

MUTANTS = [
    Mutant("svm_loss_naive", "no-1-over-N", "svm-naive-solution",
           old="    loss /= num_train\n    dW /= num_train\n", new="",
           words=(r"\bN\b", r"averag|divid")),
    Mutant("svm_loss_naive", "no-reg-gradient", "svm-naive-solution",
           old="    dW += 2 * reg * W\n", new="",
           words=(r"regulari",)),
]
