"""deepstudy.scratch — a neural-network engine in NumPy alone, written to be read.

Layers keep ``forward`` and ``backward`` side by side and are checked against torch autograd in
the tests; optimizers follow torch.optim's update rules step for step. This package imports
NumPy only — never torch, never other deepstudy modules — so it can be read and taught alone.
"""
from deepstudy.scratch.classical import KNN, LogisticRegression, MultinomialNB
from deepstudy.scratch.conv import AvgPool2D, Conv2D, MaxPool2D, ToChannelsLast, col2im, im2col
from deepstudy.scratch.core import Module, Param, Sequential
from deepstudy.scratch.gradcheck import check_layer, numerical_grad, relative_error
from deepstudy.scratch.layers import BatchNorm, Dense, Dropout, Flatten, LeakyReLU, ReLU, Sigmoid, Softmax, Tanh
from deepstudy.scratch.losses import bce_with_logits, l1_penalty, l2_penalty, mse, softmax_cross_entropy
from deepstudy.scratch.optim import SGD, Adam, AdamW, RMSProp
from deepstudy.scratch.rnn import LSTM, RNN
from deepstudy.scratch.train import NonFiniteLoss, fit, predict

__all__ = ["Module", "Param", "Sequential", "Dense", "Flatten", "ReLU", "LeakyReLU", "Sigmoid", "Tanh", "Softmax",
           "Dropout", "BatchNorm", "Conv2D", "MaxPool2D", "AvgPool2D", "ToChannelsLast", "im2col", "col2im",
           "softmax_cross_entropy", "bce_with_logits", "mse", "l1_penalty", "l2_penalty", "SGD", "RMSProp", "Adam",
           "AdamW", "RNN", "LSTM",
           "check_layer", "numerical_grad", "relative_error", "LogisticRegression", "MultinomialNB", "KNN",
           "fit", "predict", "NonFiniteLoss"]
