keep { discard; }
