
# Copyright: ticketdesk contributors
#
# 020_no_concatenated_sql: no dynamic SQL is built by concatenating values
# (issue 8). Names, subjects and template placeholders reach SQL only as
# parameters ($1, USING) or, for identifiers, through format's %I.
#
# Rules checked on the sources (schema/*.sql, src/*.c):
#  - plpgsql EXECUTE runs format(...) only; the statement contains no || and
#    no %s or %L, except where an allow-list below says why it is safe;
#  - C hands SPI only string literals (also a string macro of a header
#    followed by literals), static const strings initialised by literals, or
#    the query parameter of a wrapper whose callers do the same; SPI_exec and
#    SPI_execute (no parameters) only with a string literal.
# A planted offender in each language shows the checks can fail.

use strict;
use warnings;
use Test::More;

my $root = -d '../schema' ? '..' : (-d 'schema' ? '.' : die "no schema directory next to the test\n");

# %s in these statements receives only literals chosen by a CASE.
my %allowed_s = ('45_priority.sql' => 'IS NULL or = $n, literals only');

sub read_file { local (@ARGV, $/) = @_; return <>; }

sub sql_offences
{
	my ($name, $text) = @_;
	my @bad;
	$text =~ s/--[^\n]*//g;    # comments
	while ($text =~ /\bEXECUTE\b(?!\s+(?:FUNCTION|PROCEDURE|ON)\b)(.*?);/gs)
	{
		my $stmt = $1;
		next if $` =~ /\b(?:GRANT|REVOKE)\s+$/;
		if ($stmt !~ /^\s*format\s*\(/) { push @bad, "$name: EXECUTE without format(): $stmt"; next; }
		push @bad, "$name: EXECUTE with ||: $stmt" if $stmt =~ /\|\|/;
		push @bad, "$name: EXECUTE with %L: $stmt" if $stmt =~ /%(?:\d+\$)?L/;
		push @bad, "$name: EXECUTE with %s: $stmt"
		  if $stmt =~ /%(?:\d+\$)?s/ && !$allowed_s{$name};
	}
	return @bad;
}

# String macros defined in the headers (e.g. a shared query fragment).
my %header_macro;
for my $h (glob("$root/src/*.h"))
{
	$header_macro{$_} = 1 for (read_file($h) =~ /^#define\s+(\w+)\s+\\?\s*"/mg);
}

sub c_offences
{
	my ($name, $text) = @_;
	my @bad;
	$text =~ s{/\*.*?\*/}{}gs;
	# Macros that are string literals, and constants initialised by literals.
	my %macro = (%header_macro, map { $_ => 1 } ($text =~ /^#define\s+(\w+)\s+\\?\s*"/mg));
	my %const;
	while ($text =~ /static\s+const\s+char\s*\*?\s*(?:const\s+)?(\w+)\s*(?:\[\s*\])?\s*=\s*("|(\w+))/g)
	{
		$const{$1} = 1 if $2 eq '"' || $macro{$3 // ''};
	}
	push @bad, "$name: SPI_exec/SPI_execute with a query that is not a literal"
	  if $text =~ /\bSPI_exec(?:ute)?\s*\(\s*(?!")/;
	# Wrappers: functions taking "const char *query|sql" and passing it to SPI.
	my %wrapper;
	while ($text =~ /^(\w+)\s*\(([^)]*const char \*(\w+)[^)]*)\)\s*\n\{(.*?)\n\}/msg)
	{
		my ($fn, $params, $p, $body) = ($1, $2, $3, $4);
		next unless $body =~ /\bSPI_\w+\s*\(\s*$p\b/;
		my @p = split /,/, $params;
		my ($pos) = grep { $p[$_] =~ /\b$p\s*$/ } 0 .. $#p;
		$wrapper{$fn} = [$p, $pos];
	}
	while ($text =~ /\b(SPI_prepare\w*|SPI_execute_with_args|SPI_cursor_open_with_args)\s*\(\s*([^,]+?)\s*,/g)
	{
		my ($call, $arg) = ($1, $2);
		next if $arg =~ /^"/ || $const{$arg} || grep { $_->[0] eq $arg } values %wrapper;
		# A string macro followed by literals is one literal to the compiler.
		next if $arg =~ /^(\w+)\s+"/ && $macro{$1};
		push @bad, "$name: $call gets $arg, not a literal";
	}
	for my $fn (keys %wrapper)
	{
		my ($p, $pos) = @{ $wrapper{$fn} };
		while ($text =~ /[ \t=(,!]$fn\s*\(([^;]*?)\)\s*;/g)
		{
			my @a = split /,/, $1;
			next if @a <= $pos;
			(my $arg = $a[$pos]) =~ s/^\s+|\s+$//g;
			next if $arg =~ /^"/ || $const{$arg} || $arg eq $p;
			push @bad, "$name: $fn gets $arg, not a literal";
		}
	}
	return @bad;
}

# The checks catch what they are meant to catch.
ok(scalar(sql_offences('x.sql', q{EXECUTE 'SELECT * FROM t WHERE s = ''' || subject || '''';})),
	'a planted EXECUTE with concatenation is found');
ok(scalar(sql_offences('x.sql', q{EXECUTE format('SELECT %s', subject);})), 'a planted format %s is found');
ok(!sql_offences('x.sql', q{EXECUTE format('SELECT %I FROM t WHERE a = $1', col) USING v;}),
	'format with %I and USING passes');
ok(scalar(c_offences('x.c', qq{static void f(void)\n{\n\tchar *q = psprintf("SELECT %s", s);\n\tSPI_execute_with_args(q, 0, NULL, NULL, NULL, true, 0);\n}\n})),
	'a planted C query built by psprintf is found');

my @bad;
for my $f (sort glob("$root/schema/*.sql"))
{
	(my $n = $f) =~ s{.*/}{};
	push @bad, sql_offences($n, read_file($f));
}
for my $f (sort glob("$root/src/*.c"))
{
	(my $n = $f) =~ s{.*/}{};
	push @bad, c_offences($n, read_file($f));
}
is(join("\n", @bad), '', 'no dynamic SQL built by concatenation in schema/ and src/');

done_testing();
