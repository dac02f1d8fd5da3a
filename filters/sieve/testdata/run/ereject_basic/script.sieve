require "ereject";
ereject "I no longer accept mail from this address";
