import sys
import types

import pytest

from siamface.cli import entry


def test_ctrl_c_while_the_command_line_loads_is_one_line_and_exit_130(monkeypatch, capsys):
    class Loading(types.ModuleType):  # the user pressed Ctrl-C while it was imported
        def __getattr__(self, name):
            raise KeyboardInterrupt

    monkeypatch.setitem(sys.modules, "siamface.cli.main", Loading("siamface.cli.main"))
    with pytest.raises(SystemExit) as stop:
        entry.console()
    assert stop.value.code == 130
    assert capsys.readouterr().err == "siamface: interrupted\n"

