from openbind.cli.main import main


def test_train_unknown_key_is_a_usage_error_listing_valid_keys(tmp_path, capsys):
    recipe = tmp_path / "r.yaml"
    recipe.write_text("loop: {steps: 3}\n")
    assert main(["train", str(recipe), "loop.stepz=4"]) == 2
    err = capsys.readouterr().err
    assert "unknown key(s) ['loop.stepz']" in err and "'steps'" in err


def test_train_print_shows_the_resolved_recipe(tmp_path, capsys):
    recipe = tmp_path / "r.yaml"
    recipe.write_text("loop: {steps: 3}\n")
    assert main(["train", str(recipe), "optim.lr=0.01", "--print"]) == 0
    out = capsys.readouterr().out
    assert "steps: 3" in out and "lr: 0.01" in out


def test_train_without_data_is_a_usage_error(tmp_path, capsys):
    recipe = tmp_path / "r.yaml"
    recipe.write_text(
        "model: {anchor: text, towers: {text: {kind: token_text}, image: {kind: conv_image}}}\n"
    )
    assert main(["train", str(recipe), f"loop.out={tmp_path / 'run'}"]) == 2
    assert "data.train" in capsys.readouterr().err


def test_data_synth_writes_a_manifest_and_rejects_unknown_modalities(tmp_path, capsys):
    assert (
        main(
            [
                "data",
                "synth",
                str(tmp_path / "w"),
                "--n",
                "3",
                "--size",
                "16",
                "--modalities",
                "image,text",
            ]
        )
        == 0
    )
    assert (tmp_path / "w" / "manifest.csv").read_text().count("\n") == 4
    assert main(["data", "check", str(tmp_path / "w" / "manifest.csv")]) == 0
    assert "3 rows, 0 skipped" in capsys.readouterr().out
    assert main(["data", "synth", str(tmp_path / "x"), "--modalities", "smell"]) == 2
    assert "unknown ['smell']" in capsys.readouterr().err
