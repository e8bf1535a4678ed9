
from leanspeech.nn.dgru import DGRU  # noqa: F401
from leanspeech.nn.binary import BinaryActivation, BinaryActivationSTE, BinaryConv2d  # noqa: F401
