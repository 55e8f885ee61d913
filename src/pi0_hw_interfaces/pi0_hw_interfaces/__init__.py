"""pi0_hw_interfaces: embodiment specs, safety, trajectory following, the sim robot and bridges."""
