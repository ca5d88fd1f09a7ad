"""`cmkt report`: a static listening page (sources: what is compared; build: the work; page: the HTML)."""
