// Package elbv2types holds the Elastic Load Balancing v2 wire types (ALB and
// NLB), their awsQuery/XML tags and their validation, generated from the
// botocore model in ../models.
package elbv2types

//go:generate go run ../apigen -model ../models/elasticloadbalancingv2-2015-12-01.json -pkg elbv2types -out .
