"""napari plugin: the "Focus stack fusion" dock widget and a reader for focus stacks.

The manifest is ``napari.yaml`` (npe2), registered through the ``napari.manifest`` entry point.
:mod:`mffgui.napari.logic` holds the Qt-free part (layer data -> stack -> fusion -> layer data
tuples) and imports neither napari nor Qt; :mod:`mffgui.napari.widget` is the dock widget
(napari, magicgui and qtpy are imported there, from the ``napari`` extra).
"""
