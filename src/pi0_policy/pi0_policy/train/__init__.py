"""Training π0 (torch only): the loop (`trainer`), data mixtures (`data`), freezing and LoRA
(`finetune`), torchrun DDP/FSDP (`distributed`)."""
