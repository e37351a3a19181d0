// Package cql owns Amazon ECS's cluster query language (CQL): parsing an
// expression, as memberOf placement constraints and ListContainerInstances'
// filter carry it, into an immutable Expr compiled ahead of time; evaluating
// that Expr against one container instance, which the caller presents through
// the Subject interface; printing it back in a canonical form; and saying
// which part of it an instance fails. The package is pure: no I/O, no clock,
// no logging. An Expr is safe for concurrent use.
//
// The language, as ECS documents it
// (https://docs.aws.amazon.com/AmazonECS/latest/developerguide/cluster-query-language.html):
//
//	condition  = subject operator [argument]
//	subject    = agentConnected | agentVersion | attribute:<name> | ec2InstanceId
//	           | registeredAt | runningTasksCount | task:group
//	operator   = == equals | != not_equals | > greater_than | >= greater_than_equal
//	           | < less_than | <= less_than_equal | exists | !exists not_exists
//	           | in | !in not_in | =~ matches | !~ not_matches
//	argument   = value | "[" value {"," value} "]"     (lists for in and not_in)
//	expression = condition | "(" expression ")" | not(expression) | !(expression)
//	           | expression (and | &&) expression | expression (or | ||) expression
//
// A value is a bare word (t2.*, us-east-1a, service:production) or a string in
// single or double quotes (ECS's own example: ec2InstanceId in ['i-1', 'i-2']);
// quote values that hold spaces, parentheses, brackets, commas or quotes. The
// expression may be at most MaxLength characters. Which operators each subject
// takes follows ECS's table; other pairs are parse errors.
//
// Where the documentation is silent, this package decides as follows.
//
//   - Precedence: not binds tightest, then and, then or, as in most languages
//     (the docs only show parentheses setting precedence). not applies to the
//     next operand, so not(x) and not x are the same.
//   - Case: subjects, operator words and and/or/not are case-sensitive as
//     written in the docs, and so are attribute names and values. Parse
//     errors suggest the right spelling when only the case differs.
//   - matches/not_matches take a regular expression (the docs: "Java regular
//     expression syntax", java.util.regex.Pattern), which must match the whole
//     value, like Java's String.matches: t2.* matches t2.micro but not xt2.micro.
//     Berth compiles it with Go's RE2, which accepts the common syntax but not
//     Java's lookaround, backreferences or possessive quantifiers; those are
//     parse errors. Patterns of the form literal or literal.* (the usual
//     instance-type filters) are matched without the regexp engine.
//   - A condition on an attribute the instance does not have is false for every
//     operator except not_exists: the docs' example "attribute:stack != prod"
//     lists the instances that have the attribute stack unless its value is prod.
//   - >, >=, <, <= on attributes compare numerically when both sides are decimal
//     numbers (12 > 9) and by byte order otherwise; == and != compare strings.
//   - agentVersion compares dotted numbers (1.14.10 > 1.14.9, 1.5 == 1.5.0); a
//     leading v and anything after the numbers (-rc1) are ignored.
//   - registeredAt takes the four documented formats (2018-06-18T22:28:28+00:00,
//     2018-06-18T22:28:28Z, 2018-06-18T22:28:28, 2018-06-18; no zone means UTC).
//     An argument names a span as long as its precision, a day or a second:
//     registeredAt == 2018-02-13 holds all that day, < is before the span and
//     > after it, so "registered before February 13" is < 2018-02-13.
//   - agentConnected compares with true or false (in any case); other
//     arguments are parse errors. Its documented =~ and !~ match "true"/"false".
//   - runningTasksCount compares with a whole number.
//   - task:group has several values, one per task on the instance. The docs
//     list no operators for it; it takes ==, in, =~ and exists, true when any
//     task's group satisfies them, and their negations !=, not_in, !~ and
//     not_exists, true when no task's group does: task:group != database is
//     not(task:group == database), the documented anti-affinity.
package cql
