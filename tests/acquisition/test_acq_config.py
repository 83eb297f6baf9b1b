from pathlib import Path

import pytest

from crowdwatch.acquisition.base import SourceSpec
from crowdwatch.acquisition.config import AcquisitionConfigError, load_acquisition
from crowdwatch.acquisition.registry import build_source, check_options, option_keys
from crowdwatch.acquisition.tail import FileSource


def _write(p: Path, text: str) -> Path:
    p.parent.mkdir(parents=True, exist_ok=True)
    p.write_text(text)
    return p


def test_multi_document_files_and_dir_in_order(tmp_path: Path) -> None:
    main = _write(
        tmp_path / "acquis.yaml",
        "filenames:\n  - /var/log/nginx/*.log\nlabels:\n  type: nginx\n---\n"
        "source: journalctl\njournalctl_filter:\n  - _SYSTEMD_UNIT=ssh.service\nlabels:\n  type: syslog\n",
    )
    d = tmp_path / "acquis.d"
    _write(d / "b.yaml", "filename: /var/log/b.log\nlabels: {type: b}\nmode: cat\nname: bee\n")
    _write(d / "a.yaml", "# only a comment\n")
    _write(d / "c.yml", "filename: /var/log/c.log\nlabels: {type: c, env: 1}\n")
    _write(d / "z.yaml", "---\n---\nfilename: /var/log/z.log\nlabels: {type: z}\n")
    specs = load_acquisition(main, d)
    assert [(s.source, s.labels["type"]) for s in specs] == [
        ("file", "nginx"),
        ("journalctl", "syslog"),
        ("file", "b"),
        ("file", "z"),
        ("file", "c"),  # *.yaml before *.yml
    ]
    assert specs[0].options == {"filenames": ["/var/log/nginx/*.log"]}
    assert specs[0].mode == "tail" and specs[0].file == str(main) and specs[0].line == 1
    assert specs[1].line == 6
    assert specs[2].mode == "cat" and specs[2].name == "bee"
    assert specs[4].labels == {"type": "c", "env": "1"}


def test_missing_or_empty_files_give_no_source(tmp_path: Path) -> None:
    assert load_acquisition(tmp_path / "nope.yaml", tmp_path / "nodir") == []
    empty = _write(tmp_path / "acquis.yaml", "# nothing\n")
    assert load_acquisition(empty, None) == []


def test_env_vars_expanded_when_defined(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CW_LOGDIR", "/srv/logs")
    f = _write(tmp_path / "a.yaml", "filename: ${CW_LOGDIR}/x.log\nlabels: {type: $CW_UNDEFINED_X}\n")
    (spec,) = load_acquisition(f)
    assert spec.options["filename"] == "/srv/logs/x.log"
    assert spec.labels["type"] == "$CW_UNDEFINED_X"


@pytest.mark.parametrize(
    ("text", "where", "what"),
    [
        (
            "filename: /x\nlabels: {type: a}\nfilenamez: /y\n",
            ":3:1:",
            "unknown key 'filenamez' for source file",
        ),
        ("source: kafka\nlabels: {type: a}\n", ":1:1:", "unknown source 'kafka'"),
        ("filename: /x\nlabels:\n  env: prod\n", ":3:3:", "labels.type is required"),
        ("filename: /x\n", ":1:1:", "labels.type is required"),
        ("labels: {type: a}\n", ":1:1:", "missing 'source' field"),
        ("filename: /x\nlabels: {type: a}\nmode: follow\n", ":3:1:", "mode: must be tail or cat"),
        ("- a\n- b\n", ":1:1:", "must be a mapping"),
        ("filename: /x\nlabels: {type: a}\n  bad: [\n", ":3:", "invalid YAML"),
        (
            "source: syslog\nlisten_port: 514\njournalctl_filter: [a]\nlabels: {type: a}\n",
            ":3:1:",
            "unknown key",
        ),
    ],
)
def test_config_errors_name_file_and_line(tmp_path: Path, text: str, where: str, what: str) -> None:
    f = _write(tmp_path / "acquis.d" / "bad.yaml", "---\n" + text)
    with pytest.raises(AcquisitionConfigError) as ei:
        load_acquisition(None, tmp_path / "acquis.d")
    msg = str(ei.value)
    line = int(where.strip(":").split(":")[0]) + 1  # the leading "---" shifts lines by one
    assert msg.startswith(f"{f}:{line}:"), msg
    assert what in msg, msg


def test_docker_with_container_labels_needs_no_type(tmp_path: Path) -> None:
    f = _write(tmp_path / "a.yaml", "source: docker\ncontainer_name: [web]\nuse_container_labels: true\n")
    (spec,) = load_acquisition(f)
    assert spec.source == "docker" and spec.labels == {}


def test_common_keys_pass_through_to_options(tmp_path: Path) -> None:
    f = _write(
        tmp_path / "a.yaml",
        "filename: /x\nlabels: {type: a}\nuse_time_machine: true\ntransform: evt.Line.Raw\nlog_level: debug\n",
    )
    (spec,) = load_acquisition(f)
    assert spec.options["use_time_machine"] is True
    assert spec.options["transform"] == "evt.Line.Raw"
    src = build_source(spec)  # the file source accepts the pass-through keys
    assert isinstance(src, FileSource)


def _spec(**options: object) -> SourceSpec:
    return SourceSpec("file", {"type": "t"}, "/etc/acquis.yaml", 7, options=dict(options))


def test_build_file_source_validates_options() -> None:
    src = build_source(
        _spec(filenames=["/a/*.log"], filename="/b.log", exclude_regexps=[r"\.gz$"], max_buffer_size=100)
    )
    assert isinstance(src, FileSource)
    assert src.patterns == ["/b.log", "/a/*.log"] and src.max_line_bytes == 100 and src.use_inotify
    assert not FileSource.from_spec(_spec(filename="/x", poll_without_inotify=True)).use_inotify
    assert (
        FileSource.from_spec(_spec(filename="/x", discovery_poll_interval="500ms")).discovery_interval == 0.5
    )
    for bad, msg in [
        ({}, "filename or filenames is required"),
        ({"filename": "/x", "exclude_regexps": ["("]}, "invalid regexp"),
        ({"filename": "/x", "max_buffer_size": "big"}, "max_buffer_size"),
        ({"filename": "/x", "poll_without_inotify": "sometimes"}, "expected true or false"),
        ({"filename": "/x", "start_from": "middle"}, "start_from"),
        ({"filename": "/x", "listen_port": 1}, "unknown key listen_port"),
    ]:
        with pytest.raises(AcquisitionConfigError, match=msg) as ei:
            build_source(_spec(**bad))
        assert str(ei.value).startswith("/etc/acquis.yaml:7:")


def test_unknown_or_unavailable_source() -> None:
    with pytest.raises(AcquisitionConfigError, match="unknown source 'kafka'"):
        build_source(SourceSpec("kafka", {"type": "t"}, "/a.yaml", 2))
    with pytest.raises(KeyError):
        option_keys("kafka")


def test_unavailable_source_module_is_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    from crowdwatch.acquisition import registry

    monkeypatch.setitem(registry.SOURCES, "docker", ("crowdwatch.acquisition.no_such_module", "X"))
    with pytest.raises(AcquisitionConfigError, match="source docker not available"):
        build_source(SourceSpec("docker", {"type": "t"}, "/a.yaml", 2))
    # the load-time key check still works from the built-in table
    assert "container_name" in option_keys("docker")


def test_check_options_accepts_passthrough_keys() -> None:
    check_options(_spec(filename="/x", transform="x", unique_id="u"), {"filename"})
    with pytest.raises(AcquisitionConfigError, match="unknown keys a, b"):
        check_options(_spec(a=1, b=2), {"filename"})
