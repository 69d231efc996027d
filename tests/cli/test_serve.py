"""`siamface serve`'s options: workers, limits, the API key and the host names it answers to."""

from __future__ import annotations

import pytest

from siamface.cli.main import build_parser
from siamface.cli.serve import LOOPBACK, serve_options
from siamface.errors import ConfigError


def options(*args: str):
    return serve_options(build_parser().parse_args(["serve", "RUN", *args]), cores=2)


def test_on_loopback_it_answers_to_the_loopback_names_and_elsewhere_to_any():
    assert options().allowed_hosts == LOOPBACK
    assert options("--host", "0.0.0.0").allowed_hosts is None


def test_named_hosts_are_the_only_ones_it_answers_to_wherever_it_listens():
    named = options("--host", "0.0.0.0", "--allowed-host", "faces.example.org",
                    "--allowed-host", "10.0.0.5", "--allowed-host", "[::1]")
    assert named.allowed_hosts == ("faces.example.org", "10.0.0.5", "::1")


@pytest.mark.parametrize("name", ["faces.example.org:8000", "http://faces", "", "a b"])
def test_a_host_name_with_a_port_a_path_or_spaces_is_refused(name):
    with pytest.raises(ConfigError, match="--allowed-host: expected host names without port"):
        options("--allowed-host", name)


def test_workers_and_photo_processes_default_to_the_cores():
    default = options()
    assert (default.workers, default.photo_processes) == (2, 2)
    assert options("--workers", "1", "--photo-processes", "0").photo_processes == 0
    with pytest.raises(ConfigError, match="--workers: expected at least 1 thread, got 0"):
        options("--workers", "0")


@pytest.mark.parametrize("mb", ["nan", "inf", "0", "-1", "1e-9", "1025"])
def test_an_upload_limit_that_is_not_a_size_is_one_line(mb):
    with pytest.raises(ConfigError,
                       match=r"^--max-upload-mb: expected megabytes from 0\.0009766 to 1024"):
        options("--max-upload-mb", mb)
    assert options("--max-upload-mb", str(2**-10)).max_file_bytes == 1024
    assert options("--max-upload-mb", "1024").max_file_bytes == 2**30


@pytest.mark.parametrize(("args", "message"), [
    (["--port", "70000"], "--port: expected a port number from 0 to 65535, got 70000"),
    (["--port", "-1"], "--port: expected a port number from 0 to 65535, got -1"),
    (["--workers", "0"], "--workers: expected at least 1 thread, got 0"),
    (["--photo-processes", "-1"], "--photo-processes: expected 0 or more processes, got -1"),
    (["--max-upload-mb", "2000"],
     "--max-upload-mb: expected megabytes from 0.0009766 to 1024, got 2000.0"),
])
def test_an_option_out_of_range_is_named_alone_with_its_value(args, message):
    with pytest.raises(ConfigError) as info:
        options(*args)
    assert str(info.value) == message


def test_a_port_in_use_is_one_line_before_any_serving_line(tmp_path, capsys):
    import socket

    from siamface.cli.main import main

    with socket.create_server(("127.0.0.1", 0)) as taken:
        port = taken.getsockname()[1]
        code = main(["serve", str(tmp_path), "--port", str(port), "--no-detect"])
    out, err = capsys.readouterr()
    assert code == 2 and "siamface serve:" not in out
    assert err.startswith(f"siamface: error: --host 127.0.0.1 --port {port}: cannot listen "
                          "there (Address already in use)")


@pytest.mark.parametrize(("signal_name", "ends"), [
    ("SIGTERM", ("siamface: terminated", -15)),  # dies by the signal, as a service should
    ("SIGINT", ("siamface: interrupted", 130)),  # Ctrl-C
])
def test_a_served_run_stops_on_a_signal_as_every_command_does(tmp_path, signal_name, ends):
    import signal
    import subprocess
    import sys

    from inference.conftest import write_tiny_run
    from serve.conftest import wait_until_up

    run_dir = write_tiny_run(tmp_path / "run")
    server = subprocess.Popen(
        [sys.executable, "-m", "siamface", "serve", str(run_dir), "--port", "0", "--no-detect",
         "--db", str(tmp_path / "galleries.sqlite3")],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        line = server.stdout.readline()  # printed once it listens: the port it was given
        assert line.startswith("siamface serve:") and ":0/" not in line
        url = line.split(" on ", 1)[1].split("/ ", 1)[0]
        wait_until_up(url, server)  # serving: stopped by the signal, not in its start-up
        server.send_signal(getattr(signal, signal_name))
        _, err = server.communicate(timeout=60)
    finally:
        server.kill()
    message, code = ends
    assert message in err and server.returncode == code
