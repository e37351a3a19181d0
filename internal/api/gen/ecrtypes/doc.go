// Package ecrtypes holds the Amazon ECR wire types and their validation,
// generated from the botocore model in ../models, plus the few hand-written
// helpers the generated code uses (timestamps, validation errors).
package ecrtypes

//go:generate go run ../apigen -model ../models/ecr-2015-09-21.json -pkg ecrtypes -out .
