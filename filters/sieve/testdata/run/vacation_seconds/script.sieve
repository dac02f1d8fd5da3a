require ["vacation", "vacation-seconds"];
vacation :seconds 1800 "Back in half an hour.";
