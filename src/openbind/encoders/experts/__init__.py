"""Expert encoders for fusion: frozen towers of other spaces behind openbind's encoder contract.

* `speaker`: the speaker encoder whose weights ship in the `resemblyzer` wheel (GE2E, 256-d),
  run by openbind's own mel front end (the package itself is never imported).
* `hf`: transformers `CLIPModel` / `ClapModel` and sentence-transformers models.

`openbind.zoo.experts` builds spaces from them.
"""
