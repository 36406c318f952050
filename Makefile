# ticketdesk: a service desk inside PostgreSQL (PGXS build)
EXTENSION   = ticketdesk
EXTVERSION  = 0.12
MODULE_big  = ticketdesk
OBJS        = $(patsubst %.c,%.o,$(wildcard src/*.c))

# The install script is assembled from schema/ pieces, in file-name order.
# upgrade/ keeps the install scripts of released versions, frozen, and the
# update scripts between versions (test/t/004_upgrade.pl checks each path).
DATA_built  = $(EXTENSION)--$(EXTVERSION).sql
DATA        = $(wildcard upgrade/$(EXTENSION)--*.sql)
EXTRA_CLEAN = $(EXTENSION)--$(EXTVERSION).sql

PG_CONFIG  ?= /usr/lib/postgresql/15/bin/pg_config
PG_CFLAGS  += -Wall -Wextra -Werror -Wno-unused-parameter -Wno-missing-field-initializers -Wno-sign-compare
# Inbound mail: GMime 3 parses, libpq for the MTA pipe program.
PG_CPPFLAGS += $(shell pkg-config --cflags gmime-3.0)
SHLIB_LINK  += $(shell pkg-config --libs gmime-3.0)
# libical expands the RRULEs of service contracts (src/recurrence.c).
PG_CPPFLAGS += $(shell pkg-config --cflags libical)
SHLIB_LINK  += $(shell pkg-config --libs libical)

# libcurl delivers notifications (SMTP, HTTP).
PG_CPPFLAGS += $(shell pkg-config --cflags libcurl)
SHLIB_LINK  += $(shell pkg-config --libs libcurl)

PGXS := $(shell $(PG_CONFIG) --pgxs)
include $(PGXS)

# Every module includes the shared header.
$(OBJS): src/ticketdesk.h src/notify.h src/notify_shared.h

$(EXTENSION)--$(EXTVERSION).sql: $(sort $(wildcard schema/*.sql))
	cat $^ > $@
src/priority.o src/lifecycle.o: src/priority.h
src/lifecycle.o src/checklist.o: src/checklist.h
src/principal.o src/agent.o src/lifecycle.o src/opening_write.o src/opening_refs.o: src/principal.h
src/mailpoll.o src/launcher.o src/mailin.o: src/mailpoll.h
src/ticketdesk.o src/retention.o: src/retention.h
src/config_cache.o src/holders.o src/opening_refs.o src/route_config.o src/checklist_copy.o \
	src/notify_requester.o: src/config_cache.h

# ticketdesk-mailgate: the MTA pipe program (C + libpq), installed next to psql.
MAILGATE = ticketdesk-mailgate
EXTRA_CLEAN += $(MAILGATE)
all: $(MAILGATE)
$(MAILGATE): src/mailgate/mailgate.c
	$(CC) $(CFLAGS) -Wall -Wextra -Werror -I$(includedir) -o $@ $< -L$(libdir) -lpq
install: install-mailgate
install-mailgate: $(MAILGATE)
	$(MKDIR_P) '$(DESTDIR)$(bindir)'
	$(INSTALL_PROGRAM) $(MAILGATE) '$(DESTDIR)$(bindir)/$(MAILGATE)'
.PHONY: install-mailgate
