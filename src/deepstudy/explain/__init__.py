"""Explanations a user can check: attributions (Captum + our Grad-CAM), sanity checks, faithfulness.

    maps = explain.attribute(model, x, target, "gradcam")             # (N, H, W)
    explain.randomization_test(model, x, target, explainer)            # Adebayo et al., 2018
    explain.deletion_insertion(model, x, target, maps)                 # Petsiuk et al., 2018
    explain.explain_examples(model, x, y, ["gradcam", "saliency"])     # all of it, for a report
"""
from deepstudy.explain.faithfulness import deletion_insertion
from deepstudy.explain.features import feature_maps, first_layer_filters
from deepstudy.explain.layers import target_layer
from deepstudy.explain.methods import METHODS, attribute
from deepstudy.explain.examples import explain_examples
from deepstudy.explain.sanity import FLAG_AT, randomization_test

__all__ = ["METHODS", "FLAG_AT", "attribute", "deletion_insertion", "explain_examples", "feature_maps",
           "first_layer_filters", "randomization_test", "target_layer"]
