package migrations

// Unexported functions, for the external tests.
var (
	LoadSteps            = loadSteps
	RedactErr            = redactErr
	NumberedPlaceholders = numberedPlaceholders
)
