package postgres

// The list statements, for the test that reads their plans.
var (
	VisibleFilesFirst, VisibleFilesOlder = visibleFiles.first, visibleFiles.older
	PublicFilesFirst, PublicFilesOlder   = publicFiles.first, publicFiles.older
	OwnerFilesFirst, OwnerFilesOlder     = ownerFiles.first, ownerFiles.older
)
