// Package sql holds the PostgreSQL schema as ordered migration files
// (NNNN_name.sql), embedded so the uploader binary can apply them anywhere.
// A file, once released, is never edited: changes come as a new file.
package sql

import "embed"

// Migrations are applied in lexical order by postgres.Migrate.
//
//go:embed *.sql
var Migrations embed.FS
