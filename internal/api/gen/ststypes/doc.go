// Package ststypes holds the AWS STS wire types, their awsQuery/XML tags and
// their validation, generated from the botocore model in ../models.
package ststypes

//go:generate go run ../apigen -model ../models/sts-2011-06-15.json -pkg ststypes -out .
