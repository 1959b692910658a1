"""The Train dialog, split into thin views over a Qt-free session.

* :mod:`.dialog` — :class:`~.dialog.TrainingDialog`: starts the trainer's QProcess, forwards
  its output to :class:`mffgui.training.session.TrainingSession`, renders the session;
* :mod:`.settings_form` — the *Setup* group (network, data, schedule) -> ``RunSettings``;
* :mod:`.runs_panel` — *Previous runs* (resume, delete, clean up);
* :mod:`.loss_curve` — the live loss plot; :mod:`.preview` — the per-epoch preview;
* :mod:`.folder_list` — data folder lists with drag & drop; :mod:`.process` — the QProcess;
* :mod:`.actions` — the main window's menu actions and :class:`~.actions.TrainingHost`.

Nothing is imported here, so importing one view does not load the others.
"""
