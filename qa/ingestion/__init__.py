"""Any input to a stored document: read sources (files, folders, URLs, stdin), clean the
article, split it into sentences, pack them into chunks, embed and store them."""
