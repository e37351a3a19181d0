// Package scan owns Berth's image vulnerability scanning as ECR's basic scan
// reports it: taking an inventory of an image's layers (Debian and Alpine
// package databases, Go binaries' module lists, the OS release), loading an
// OSV-format vulnerability database the operator imports from local files,
// matching the one against the other with each ecosystem's version ordering,
// and shaping the result as ECR findings with severity counts.
//
// It does not own when scans run, where results are stored or the ECR API
// handlers (StartImageScan, DescribeImageScanFindings); those call
// TakeInventory, LoadDB, DB.Match and Report.ECR.
//
// Memory stays bounded whatever an image holds: layers are streamed, only the
// few small files the inventory needs are read (each up to a limit), and Go
// binaries above an in-memory limit are spooled to a temporary file for
// debug/buildinfo. Malformed input (corrupt tars, bad JSON, unparseable
// versions) is skipped with a note, never a panic.
package scan
