"""``python -m training ...`` from a source checkout: forwards to ``python -m mffgui.training``.

The training code lives in :mod:`mffgui.training` (installed with the app). This folder is not a
package and is not installed; it keeps the commands recorded in ``resources/weights/weights.json``
runnable from the repository root.
"""

import sys

from mffgui.training.__main__ import main

if __name__ == "__main__":
    sys.exit(main())
