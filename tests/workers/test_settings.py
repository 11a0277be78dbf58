from pathlib import Path

import pytest

from workers.settings import SettingsError, load_settings


def test_defaults(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    s = load_settings(env={})
    assert s.data_dir == tmp_path / "maydo-data"
    assert s.assets_dir == tmp_path / "maydo-data" / "assets"
    assert s.job_db_path == tmp_path / "maydo-data" / "jobs.sqlite3"
    assert s.limits.max_image_pixels == 40_000_000
    assert s.ray_address is None


def test_precedence_default_file_env_overrides(tmp_path):
    user = tmp_path / "user.yaml"
    user.write_text("data_dir: /from/file\nlimits:\n  max_script_chars: 500\n  max_upload_bytes: 1000\n")
    s = load_settings(user, env={"MAYDO_LIMITS__MAX_SCRIPT_CHARS": "700"})
    assert s.data_dir == Path("/from/file")  # file beats default
    assert s.limits.max_script_chars == 700  # env beats file
    assert s.limits.max_upload_bytes == 1000  # file value kept where env is silent
    assert s.limits.max_image_pixels == 40_000_000  # default kept
    s2 = load_settings(user, env={"MAYDO_DATA_DIR": "/from/env"}, overrides={"data_dir": "/from/override"})
    assert s2.data_dir == Path("/from/override")


def test_config_file_from_env_variable(tmp_path):
    user = tmp_path / "u.yaml"
    user.write_text("storage:\n  root: /srv/assets\n")
    s = load_settings(env={"MAYDO_CONFIG": str(user)})
    assert s.assets_dir == Path("/srv/assets")


def test_ray_address_from_env(monkeypatch):
    monkeypatch.setenv("RAY_ADDRESS", "ray://head:10001")
    assert load_settings(env={}).ray_address == "ray://head:10001"
    assert load_settings(env={"MAYDO_RAY__ADDRESS": "auto"}).ray_address == "auto"


def test_unknown_key_names_key(tmp_path):
    with pytest.raises(SettingsError) as exc:
        load_settings(env={"MAYDO_LIMITS__MAX_PIXELZ": "3"})
    assert "limits.max_pixelz" in str(exc.value)
    assert "MAYDO_LIMITS__MAX_PIXELZ" in str(exc.value)


def test_bad_value_names_key_and_allowed(tmp_path):
    with pytest.raises(SettingsError) as exc:
        load_settings(env={"MAYDO_STORAGE__BACKEND": "gcs"})
    msg = str(exc.value)
    assert "storage.backend" in msg and "'local'" in msg and "'s3'" in msg
    with pytest.raises(SettingsError) as exc:
        load_settings(env={"MAYDO_STORAGE__BACKEND": "s3"})
    assert str(exc.value) == (
        "invalid settings:\n  storage.backend is 's3' but storage.s3.bucket is not set (env MAYDO_STORAGE__S3__BUCKET)"
    )
    with pytest.raises(SettingsError, match="limits.max_image_pixels"):
        load_settings(env={"MAYDO_LIMITS__MAX_IMAGE_PIXELS": "-5"})


def test_bad_files(tmp_path):
    with pytest.raises(SettingsError, match="not found"):
        load_settings(tmp_path / "missing.yaml", env={})
    bad = tmp_path / "bad.yaml"
    bad.write_text("data_dir: [unclosed\n")
    with pytest.raises(SettingsError, match="not valid YAML"):
        load_settings(bad, env={})
    lst = tmp_path / "list.yaml"
    lst.write_text("- a\n- b\n")
    with pytest.raises(SettingsError, match="mapping"):
        load_settings(lst, env={})


def test_pool_resources_custom_only_positive() -> None:
    s = load_settings(env={"MAYDO_POOLS__VIDEO__RESOURCES__VIDEO_NODE": "1"})
    assert s.pools["video"].resources == {"video_node": 1.0}
    assert load_settings(env={}).pools["video"].resources == {}  # default: placed anywhere
    with pytest.raises(SettingsError, match=r"pools.video.resources.*num_cpus"):
        load_settings(env={"MAYDO_POOLS__VIDEO__RESOURCES__CPU": "1"})
    with pytest.raises(SettingsError, match=r"pools.video.resources.*positive"):
        load_settings(env={"MAYDO_POOLS__VIDEO__RESOURCES__VIDEO_NODE": "0"})
