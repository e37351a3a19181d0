// Package ecstypes holds the Amazon ECS wire types and their validation,
// generated from the botocore model in ../models, plus the few hand-written
// helpers the generated code uses (timestamps, validation errors).
package ecstypes

//go:generate go run ../apigen -model ../models/ecs-2014-11-13.json -pkg ecstypes -out .
