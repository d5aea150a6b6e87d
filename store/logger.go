package store

import (
	"fmt"
	"strings"

	"github.com/sirupsen/logrus"
)

// badgerLogger routes badger's logging to logrus at warning level: badger
// reports every compaction and table open at info, which would drown the
// daemon's own log.
type badgerLogger struct{ l logrus.FieldLogger }

func (b badgerLogger) Errorf(f string, v ...any) { b.l.Error(line(f, v)) }

func (b badgerLogger) Warningf(f string, v ...any) { b.l.Warn(line(f, v)) }

func (badgerLogger) Infof(string, ...any) {}

func (badgerLogger) Debugf(string, ...any) {}

// line drops the newline badger ends most messages with; logrus adds its own.
func line(f string, v []any) string {
	return strings.TrimRight(fmt.Sprintf(f, v...), "\n")
}
