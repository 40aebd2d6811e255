"""Import of the Node airdrop bot's MongoDB data (`botrunner migrate from-node`)."""
