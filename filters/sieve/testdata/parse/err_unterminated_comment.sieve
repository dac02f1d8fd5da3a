keep; /* never closed
