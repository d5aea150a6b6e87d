package labwire

import (
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/sirupsen/logrus"

	"github.com/sanmob/sanmob/devices"
	"github.com/sanmob/sanmob/fabric"
	"github.com/sanmob/sanmob/fabric/brocade"
)

// DriverBrocade is the driver name of a fabric reached through a Brocade
// switch's FOS REST API (fabric/brocade).
const DriverBrocade = "brocade"

// The options of a DriverBrocade Spec, each a brocade.Config field:
//
//	url                 https://switch[:port] (required)
//	user                the REST user (required)
//	password            the password, or
//	passwordFile        a file holding it (one of the two; trailing newlines are dropped)
//	vfid                the logical switch, 1–128 (default: none, the default switch)
//	caFile              PEM of the CA that signed the switch's certificate (default: the system's)
//	insecureSkipVerify  "true" turns certificate checks off (a lab only)
//	timeout             per request, a Go duration (default 60s)
//	retries             how often a busy reply is retried (default 4; negative: never)
//	backoff             the first wait between retries, a Go duration (default 1s)
var brocadeOptions = []string{"url", "user", "password", "passwordFile", "vfid", "caFile",
	"insecureSkipVerify", "timeout", "retries", "backoff"}

// Brocade builds the driver of a Brocade fabric from its Spec's options
// (see brocadeOptions). It reads passwordFile and caFile but does no
// network I/O: the driver logs in on its first call. log (nil: none) gets
// the driver's warnings, with the fabric's id; no error or log line carries
// the password.
func Brocade(log logrus.FieldLogger) devices.FabricFactory {
	return func(s devices.Spec) (fabric.Driver, error) {
		cfg, err := brocadeConfig(s)
		if err != nil {
			return nil, err
		}
		if log != nil {
			cfg.Log = log.WithField("fabric", s.ID)
		}
		d, err := brocade.New(cfg)
		if err != nil {
			return nil, err
		}
		return d, nil
	}
}

// brocadeConfig reads a Spec's options into a brocade.Config; brocade.New
// checks what it holds.
func brocadeConfig(s devices.Spec) (brocade.Config, error) {
	if err := s.CheckOptions(brocadeOptions...); err != nil {
		return brocade.Config{}, err
	}
	o := s.Options
	cfg := brocade.Config{URL: o["url"], User: o["user"], Password: o["password"], CAFile: o["caFile"]}
	var errs []error
	if f := o["passwordFile"]; f != "" {
		if cfg.Password != "" {
			errs = append(errs, errors.New("options password and passwordFile are both set; give one"))
		} else if raw, err := os.ReadFile(f); err != nil {
			errs = append(errs, fmt.Errorf("option passwordFile: %w", err))
		} else {
			cfg.Password = strings.TrimRight(string(raw), "\r\n")
		}
	}
	if v, ok := o["vfid"]; ok {
		n, err := strconv.Atoi(v)
		cfg.VFID, errs = n, appendOptErr(errs, "vfid", v, "a number", err)
	}
	if v, ok := o["insecureSkipVerify"]; ok {
		b, err := strconv.ParseBool(v)
		cfg.InsecureSkipVerify, errs = b, appendOptErr(errs, "insecureSkipVerify", v, "true or false", err)
	}
	if v, ok := o["timeout"]; ok {
		d, err := time.ParseDuration(v)
		cfg.Timeout, errs = d, appendOptErr(errs, "timeout", v, "a duration, as 60s", err)
	}
	if v, ok := o["retries"]; ok {
		n, err := strconv.Atoi(v)
		cfg.Retries, errs = n, appendOptErr(errs, "retries", v, "a number", err)
	}
	if v, ok := o["backoff"]; ok {
		d, err := time.ParseDuration(v)
		cfg.Backoff, errs = d, appendOptErr(errs, "backoff", v, "a duration, as 1s", err)
	}
	return cfg, errors.Join(errs...)
}

func appendOptErr(errs []error, name, v, want string, err error) []error {
	if err != nil {
		errs = append(errs, fmt.Errorf("option %s %q: want %s", name, v, want))
	}
	return errs
}
