"""Configuration: every option from a TOML file (--config FILE or SOS_CONFIG) or an SOS_ variable,
with precedence flag > environment > file > default, and `sos config print` (docs/operations.md)."""
import os
import subprocess

from harness import (COOKIE, ROOT_ACCESS_KEY, ROOT_SECRET_KEY, SOS_BIN, free_port, port_open, wait_for)
from test_keys import client


def run(*args, env=None, config=None):
    environment = {k: v for k, v in os.environ.items() if not k.startswith("SOS_") or k.startswith("SOS_ROOT_")}
    environment.update(env or {})
    return subprocess.run([SOS_BIN, *args], capture_output=True, text=True, timeout=60, env=environment)


def start(args, log, env):
    environment = {k: v for k, v in os.environ.items() if not k.startswith("SOS_") or k.startswith("SOS_ROOT_")}
    environment.update(env)
    return subprocess.Popen([SOS_BIN, *args], stdout=log.open("wb"), stderr=subprocess.STDOUT, env=environment)


def test_a_cluster_runs_from_a_config_file_and_the_environment(tmp_path):
    s3_port, cluster_port, console_port = free_port(), free_port(), free_port()
    config = tmp_path / "brain.toml"
    config.write_text(f'''
# The brain's settings, keyed by the long option names.
s3-address = "127.0.0.1:{s3_port}"
cluster-address = "127.0.0.1:{cluster_port}"
console-address = "127.0.0.1:{console_port}"
directory = "{tmp_path / 'brain'}"
cookie = "{COOKIE}"
replication = 1
request-log = false
metrics-token = "scrape-secret"
''')
    brain = start(["brain", "--config", str(config)], tmp_path / "brain.log", {})
    # The agent from the environment alone.
    agent = start(["storage-agent"], tmp_path / "agent.log", {
        "SOS_BRAIN": f"127.0.0.1:{cluster_port}", "SOS_CLIENT_ID": "agent-env", "SOS_DIRECTORY": str(tmp_path / "agent"),
        "SOS_COOKIE": COOKIE, "SOS_SEGMENT_SIZE": "8MiB"})
    try:
        wait_for(lambda: port_open(s3_port), what="S3 port from the file")
        wait_for(lambda: "registered with the brain" in (tmp_path / "agent.log").read_text(), what="agent registration")
        endpoint = type("Endpoint", (), {"endpoint": f"http://127.0.0.1:{s3_port}"})
        s3 = client(endpoint, ROOT_ACCESS_KEY, ROOT_SECRET_KEY)
        s3.create_bucket(Bucket="configured")
        s3.put_object(Bucket="configured", Key="k", Body=b"from a config file")
        assert s3.get_object(Bucket="configured", Key="k")["Body"].read() == b"from a config file"
        assert port_open(console_port)
        # request-log = false turned the request lines off; the token is wanted, and never logged.
        assert "s3 request" not in (tmp_path / "brain.log").read_text()
        assert "scrape-secret" not in (tmp_path / "brain.log").read_text()
        assert (tmp_path / "agent").is_dir()
    finally:
        for process in (agent, brain):
            process.terminate()
            process.wait(timeout=30)


def test_flag_beats_environment_beats_file_beats_default(tmp_path):
    config = tmp_path / "sos.toml"
    config.write_text('s3-address = "127.0.0.1:9500"\nchunk-size = "8MiB"\nsigv2 = false\ncookie = "not-shown"\n')
    printed = run("config", "print", "--config", str(config), "server", env={"SOS_CHUNK_SIZE": "2MiB"})
    assert printed.returncode == 0, printed.stderr
    lines = printed.stdout.splitlines()
    assert 's3-address = "127.0.0.1:9500"  # file' in lines
    assert 'chunk-size = "2MiB"  # environment' in lines
    assert 'sigv2 = "off"  # file' in lines
    assert 'replication = 1  # default' in lines
    assert 'console-address = "127.0.0.1:9001"  # default' in lines
    # SOS_CONFIG names the file too; secrets are masked.
    brain = run("config", "print", "brain", env={"SOS_CONFIG": str(config), "SOS_METRICS_TOKEN": "tok-123"})
    assert brain.returncode == 0, brain.stderr
    assert 'cookie = "********"  # file' in brain.stdout and "not-shown" not in brain.stdout
    assert 'metrics-token = "********"  # environment' in brain.stdout and "tok-123" not in brain.stdout
    # A running server: the flag wins over the environment, which wins over the file.
    flag_port, env_port = free_port(), free_port()
    data = tmp_path / "data"
    env = {"SOS_CONFIG": str(config), "SOS_S3_ADDRESS": f"127.0.0.1:{env_port}", "SOS_CONSOLE_ADDRESS": "off"}
    server = start(["server", "--directory", str(data), "--s3-address", f"127.0.0.1:{flag_port}"], tmp_path / "a.log", env)
    try:
        wait_for(lambda: port_open(flag_port), what="the flag's port")
        assert not port_open(env_port)
    finally:
        server.terminate()
        server.wait(timeout=30)
    server = start(["server", "--directory", str(data)], tmp_path / "b.log", env)
    try:
        wait_for(lambda: port_open(env_port), what="the environment's port")
    finally:
        server.terminate()
        server.wait(timeout=30)


def test_bad_config_files_are_refused_with_a_clear_message(tmp_path):
    cases = {
        "unknown.toml": ('s3-adress = "127.0.0.1:9000"\n', 'unknown setting "s3-adress"'),
        "syntax.toml": ('s3-address = \n', "line 1"),
        "list.toml": ("replication = [1, 2]\n", "replication takes one value"),
        "table.toml": ("[server]\nreplication = 2\n", "settings are top-level keys"),
        "flag.toml": ('insecure-no-auth = "maybe"\n', "insecure-no-auth is true or false"),
    }
    for name, (text, message) in cases.items():
        path = tmp_path / name
        path.write_text(text)
        result = run("server", "--config", str(path), "--directory", str(tmp_path / "never"))
        assert result.returncode != 0, name
        assert message in result.stderr and str(path) in result.stderr, (name, result.stderr)
        assert not (tmp_path / "never").exists(), "nothing starts on a bad config"
    missing = run("brain", "--config", str(tmp_path / "missing.toml"))
    assert missing.returncode != 0 and "cannot read the config file" in missing.stderr
    # A value the option itself refuses is refused as if given on the command line.
    bad_value = tmp_path / "value.toml"
    bad_value.write_text('replication = 7\n')
    result = run("server", "--config", str(bad_value), "--directory", str(tmp_path / "never"))
    assert result.returncode != 0 and "--replication must be 1 or 2" in result.stderr
