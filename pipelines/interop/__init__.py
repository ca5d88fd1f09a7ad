"""Reading the published SGMSE+ and StoRM checkpoints into cmkt models (docs/interop.md).

`reader` loads a Lightning checkpoint without running any of its code, `ncsnpp_keys` maps an
upstream NCSN++ state dict onto cmkt's U-Net, and `sgmse` / `storm` turn each project's
hyper-parameters into an `EnhancerConfig`. `importer.import_lightning` picks the project.
"""
