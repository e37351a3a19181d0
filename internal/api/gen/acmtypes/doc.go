// Package acmtypes holds the AWS Certificate Manager wire types and their
// validation, generated from the botocore model in ../models. Berth's ACM
// keeps the certificates operators import for HTTPS and TLS listeners.
package acmtypes

//go:generate go run ../apigen -model ../models/acm-2015-12-08.json -pkg acmtypes -out .
