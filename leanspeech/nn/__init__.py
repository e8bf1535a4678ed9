
from leanspeech.nn.dgru import DGRU  # noqa: F401
