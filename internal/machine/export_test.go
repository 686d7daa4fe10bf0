package machine

// SetCreateHook lets the external tests make Create fail at a step (see
// testHookCreate). It returns a function that removes the hook.
func SetCreateHook(hook func(step string) error) (restore func()) {
	testHookCreate = hook
	return func() { testHookCreate = nil }
}
