"""The defaults a user reads in ``--help`` and the code applies, each said once (no Keras: the command line reads
them before any model loads)."""

DEFAULT_MODEL = "vgg16-hed"  # the embedded model: what a build without --model shows
PREVIEW_FILTERS = 16  # a preview builds the first filters of each layer
PREVIEW_CONTRAST = 1.25  # the fourier preview's fixed contrast: its tiles' deviation matches the full profile's
FACETS_IN_FULL = 4  # facets per filter in the full profile; a preview builds none
NUM_EXAMPLES = 9  # dataset examples per filter and sign
