"""Finding the agent: each source, precedence, ngrok.yml v2/v3, OS default paths, address forms."""

from __future__ import annotations

from pathlib import Path

import pytest

from ngrok_inspect.errors import ConfigError, ExitCode, UsageError
from ngrok_inspect.settings import (
    DEFAULT_API_URL,
    default_config_paths,
    normalize_web_addr,
    resolve_settings,
)


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


V2 = 'version: "2"\nauthtoken: secret-token\nweb_addr: 127.0.0.1:4141\n'
V3 = 'version: "3"\nagent:\n  authtoken: secret-token\n  web_addr: localhost:4242\n'


@pytest.mark.parametrize(
    ("value", "url"),
    [
        (4040, "http://127.0.0.1:4040"),
        ("4041", "http://127.0.0.1:4041"),
        (":4042", "http://127.0.0.1:4042"),
        ("localhost:4040", "http://localhost:4040"),
        ("127.0.0.1:4040", "http://127.0.0.1:4040"),
        ("0.0.0.0:4040", "http://127.0.0.1:4040"),
        ("[::1]:4040", "http://[::1]:4040"),
        ("[::]:4040", "http://[::1]:4040"),
        ("localhost", "http://localhost:4040"),
        ("http://127.0.0.1:4040", "http://127.0.0.1:4040"),
        ("http://127.0.0.1:4040/", "http://127.0.0.1:4040"),
        ("http://127.0.0.1:4040/api", "http://127.0.0.1:4040"),
        ("HTTP://Agent.local:4040/api/", "http://Agent.local:4040"),
        ("https://inspect.example.com", "https://inspect.example.com"),
        ("  4040  ", "http://127.0.0.1:4040"),
    ],
)
def test_normalize_web_addr(value: str | int, url: str) -> None:
    assert normalize_web_addr(value) == url


@pytest.mark.parametrize(
    "value",
    ["", "abc:def", "127.0.0.1:70000", "0", "::1:4040", "[::1", "ftp://x:1", "http://h:1/other",
     "host name:1", True],
)  # fmt: skip
def test_normalize_web_addr_rejects(value: str) -> None:
    with pytest.raises(UsageError) as e:
        normalize_web_addr(value)
    assert e.value.exit_code == ExitCode.USAGE and e.value.hint


def test_default_when_nothing_is_set(hermetic_env: Path) -> None:
    s = resolve_settings()
    assert (s.api_url, s.source, s.timeout, s.config_paths) == (
        DEFAULT_API_URL,
        "default",
        10.0,
        (),
    )


def test_argument_beats_env_and_config(hermetic_env: Path, tmp_path: Path) -> None:
    cfg = write(tmp_path / "a.yml", V2)
    env = {"NGROK_INSPECT_API_URL": "5000", "NGROK_CONFIG": str(cfg)}
    s = resolve_settings(api_url="6000", env=env)
    assert (s.api_url, s.source) == ("http://127.0.0.1:6000", "argument")


def test_env_beats_config(tmp_path: Path) -> None:
    cfg = write(tmp_path / "a.yml", V2)
    s = resolve_settings(env={"NGROK_INSPECT_API_URL": "5000", "NGROK_CONFIG": str(cfg)})
    assert (s.api_url, s.source) == ("http://127.0.0.1:5000", "env")


def test_env_bad_value_names_the_variable() -> None:
    with pytest.raises(UsageError, match="NGROK_INSPECT_API_URL"):
        resolve_settings(env={"NGROK_INSPECT_API_URL": "nope:nope"})


def test_given_address_skips_a_broken_config(tmp_path: Path) -> None:
    cfg = write(tmp_path / "bad.yml", "web_addr: [unclosed\n")
    assert resolve_settings(api_url="4040", config=str(cfg)).source == "argument"


def test_config_v2_top_level(tmp_path: Path) -> None:
    cfg = write(tmp_path / "v2.yml", V2)
    s = resolve_settings(config=str(cfg), env={})
    assert (s.api_url, s.source, s.config_paths) == ("http://127.0.0.1:4141", "config", (cfg,))


def test_config_v3_agent_section(tmp_path: Path) -> None:
    cfg = write(tmp_path / "v3.yml", V3)
    s = resolve_settings(config=cfg, env={})
    assert (s.api_url, s.source) == ("http://localhost:4242", "config")


def test_v3_ignores_top_level_and_v2_ignores_agent(tmp_path: Path) -> None:
    v3 = write(tmp_path / "v3.yml", 'version: "3"\nweb_addr: 1111\nagent:\n  web_addr: 2222\n')
    assert resolve_settings(config=v3, env={}).api_url == "http://127.0.0.1:2222"
    v2 = write(tmp_path / "v2.yml", 'version: "2"\nweb_addr: 1111\nagent:\n  web_addr: 2222\n')
    assert resolve_settings(config=v2, env={}).api_url == "http://127.0.0.1:1111"


def test_config_without_web_addr_gives_default(tmp_path: Path) -> None:
    cfg = write(tmp_path / "a.yml", 'version: "3"\nagent:\n  authtoken: x\n')
    s = resolve_settings(config=cfg, env={})
    assert (s.api_url, s.source, s.config_paths) == (DEFAULT_API_URL, "default", (cfg,))
    empty = write(tmp_path / "empty.yml", "")
    assert resolve_settings(config=empty, env={}).source == "default"


def test_ngrok_config_env_and_merge_later_wins(tmp_path: Path) -> None:
    a = write(tmp_path / "a.yml", V2)
    b = write(tmp_path / "b.yml", 'version: "2"\nweb_addr: 4343\n')
    c = write(tmp_path / "c.yml", 'version: "2"\nauthtoken: only-a-token\n')
    s = resolve_settings(env={"NGROK_CONFIG": f"{a},{b},{c}"})
    assert s.api_url == "http://127.0.0.1:4343" and s.config_paths == (a, b, c)
    s2 = resolve_settings(config=f"{b}, {a}", env={})
    assert s2.api_url == "http://127.0.0.1:4141"


def test_web_addr_false_is_a_clear_error(tmp_path: Path) -> None:
    cfg = write(tmp_path / "off.yml", 'version: "3"\nagent:\n  web_addr: false\n')
    with pytest.raises(ConfigError) as e:
        resolve_settings(config=cfg, env={})
    assert str(cfg) in e.value.message and "web_addr: false" in e.value.message
    assert e.value.path == str(cfg) and e.value.exit_code == ExitCode.USAGE
    assert "--api-url" in (e.value.hint or "")


def test_yaml_syntax_error_names_file_and_line(tmp_path: Path) -> None:
    cfg = write(tmp_path / "broken.yml", 'version: "2"\nauthtoken: abc\nweb_addr: [4040\n')
    with pytest.raises(ConfigError) as e:
        resolve_settings(config=cfg, env={})
    assert e.value.line == 4  # PyYAML notices at the end of the file ...
    assert f"{cfg}:4: " in e.value.message
    assert "flow sequence started at line 3" in e.value.message  # ... and names the start
    assert "abc" not in e.value.message  # no file content (a secret token) in the message
    assert e.value.exit_code == ExitCode.USAGE and "--api-url" in (e.value.hint or "")


def test_yaml_error_line_for_bad_indentation(tmp_path: Path) -> None:
    cfg = write(tmp_path / "indent.yml", 'version: "3"\nagent:\n  authtoken: x\n web_addr: 1: 2\n')
    with pytest.raises(ConfigError) as e:
        resolve_settings(config=cfg, env={})
    assert e.value.line == 4 and f"{cfg}:4: " in e.value.message


def test_bad_web_addr_value_names_file(tmp_path: Path) -> None:
    cfg = write(tmp_path / "a.yml", 'version: "2"\nweb_addr: "not an address"\n')
    with pytest.raises(ConfigError, match=str(cfg)):
        resolve_settings(config=cfg, env={})


def test_not_a_mapping_and_missing_file(tmp_path: Path) -> None:
    lst = write(tmp_path / "list.yml", "- 1\n- 2\n")
    with pytest.raises(ConfigError, match="not a YAML mapping"):
        resolve_settings(config=lst, env={})
    with pytest.raises(ConfigError, match="does not exist"):
        resolve_settings(config=tmp_path / "nope.yml", env={})


def test_default_path_linux_honours_xdg(hermetic_env: Path, tmp_path: Path) -> None:
    home = tmp_path / "home"
    xdg = tmp_path / "xdg"
    paths = default_config_paths({"XDG_CONFIG_HOME": str(xdg)}, "linux", home)
    assert paths == [xdg / "ngrok" / "ngrok.yml", home / ".ngrok2" / "ngrok.yml"]
    paths = default_config_paths({}, "linux", home)
    assert paths[0] == home / ".config" / "ngrok" / "ngrok.yml"
    # a relative XDG_CONFIG_HOME is ignored, as the XDG spec says
    assert default_config_paths({"XDG_CONFIG_HOME": "rel"}, "linux", home)[0] == paths[0]


def test_default_path_macos_and_windows(tmp_path: Path) -> None:
    home = tmp_path / "home"
    mac = default_config_paths({}, "darwin", home)
    assert mac[0] == home / "Library" / "Application Support" / "ngrok" / "ngrok.yml"
    win = default_config_paths({"LOCALAPPDATA": str(tmp_path / "Local")}, "win32", home)
    assert win[0] == tmp_path / "Local" / "ngrok" / "ngrok.yml"
    assert win[1] == home / ".ngrok2" / "ngrok.yml"
    assert (
        default_config_paths({}, "win32", home)[0]
        == home / "AppData" / "Local" / "ngrok" / "ngrok.yml"
    )
    assert default_config_paths({"HOME": str(home)}, "linux")[1] == home / ".ngrok2" / "ngrok.yml"


def test_os_default_file_is_read(hermetic_env: Path) -> None:
    cfg = write(hermetic_env / ".config" / "ngrok" / "ngrok.yml", V3)
    s = resolve_settings()
    assert (s.api_url, s.source, s.config_paths) == ("http://localhost:4242", "config", (cfg,))


def test_legacy_file_used_only_when_new_one_absent(hermetic_env: Path) -> None:
    legacy = write(hermetic_env / ".ngrok2" / "ngrok.yml", V2)
    s = resolve_settings()
    assert (s.api_url, s.config_paths) == ("http://127.0.0.1:4141", (legacy,))
    write(hermetic_env / ".config" / "ngrok" / "ngrok.yml", V3)
    assert resolve_settings().api_url == "http://localhost:4242"


def test_timeout_sources() -> None:
    assert resolve_settings(timeout=2.5, env={}).timeout == 2.5
    assert resolve_settings(env={"NGROK_INSPECT_TIMEOUT": "3"}).timeout == 3.0
    assert resolve_settings(timeout=1, env={"NGROK_INSPECT_TIMEOUT": "3"}).timeout == 1.0
    for bad in ("abc", "0", "-1", "nan", "inf"):
        with pytest.raises(UsageError):
            resolve_settings(env={"NGROK_INSPECT_TIMEOUT": bad})
    with pytest.raises(UsageError):
        resolve_settings(timeout=0, env={})
