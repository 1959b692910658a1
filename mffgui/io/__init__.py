"""Reading stacks and writing exports: the only place that knows about files and codecs."""

from mffgui.io.readers import SUPPORTED_FORMATS, is_image_file, probe, read_image, sniff_format
from mffgui.io.stacks import DEFAULT_CACHE_BYTES, Discovery, discover, natural_key, read_stack
from mffgui.io.writers import EXPORT_FORMATS, write_image, write_maps

__all__ = [
    "DEFAULT_CACHE_BYTES",
    "EXPORT_FORMATS",
    "SUPPORTED_FORMATS",
    "Discovery",
    "discover",
    "is_image_file",
    "natural_key",
    "probe",
    "read_image",
    "read_stack",
    "sniff_format",
    "write_image",
    "write_maps",
]
