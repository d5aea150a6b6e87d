package csi

import (
	"context"
	"fmt"
	"path"
	"runtime/debug"
	"time"

	"github.com/container-storage-interface/spec/lib/go/csi"
	"github.com/kubernetes-csi/csi-lib-utils/protosanitizer"
	"github.com/sirupsen/logrus"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/sanmob/sanmob/mobility"
)

// quiet are the calls a CO makes all the time to look, not to change: they
// log at debug level when they succeed.
var quiet = map[string]bool{
	csi.Identity_Probe_FullMethodName:                        true,
	csi.Identity_GetPluginInfo_FullMethodName:                true,
	csi.Identity_GetPluginCapabilities_FullMethodName:        true,
	csi.Controller_ControllerGetCapabilities_FullMethodName:  true,
	csi.Controller_ListVolumes_FullMethodName:                true,
	csi.Controller_ListSnapshots_FullMethodName:              true,
	csi.Controller_GetCapacity_FullMethodName:                true,
	csi.Controller_ControllerGetVolume_FullMethodName:        true,
	csi.Controller_ValidateVolumeCapabilities_FullMethodName: true,
}

// intercept runs every call: it turns a panic into INTERNAL rather than a
// dead daemon, maps the error to its code (toStatus) and logs the call.
// Requests and responses reach the log only through
// protosanitizer.StripSecrets, which blanks every field the CSI spec marks
// csi_secret; a secret has no other way into a log line.
func (s *Server) intercept(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (resp any, err error) {
	start := time.Now()
	func() {
		defer func() {
			if p := recover(); p != nil {
				s.log.WithFields(logrus.Fields{"method": path.Base(info.FullMethod), "panic": fmt.Sprint(p)}).
					Error("csi: handler panicked\n" + string(debug.Stack()))
				resp, err = nil, status.Errorf(codes.Internal, "internal error: %v", p)
			}
		}()
		resp, err = handler(ctx, req)
	}()
	device := mobility.FromDevice(err) // a device's refusal is worth a warning whatever its code
	err = toStatus(info.FullMethod, err)
	code := status.Code(err)

	e := s.log.WithFields(logrus.Fields{
		"method":   path.Base(info.FullMethod),
		"duration": time.Since(start).Round(time.Microsecond).String(),
		"code":     code.String(),
		"request":  lazy{req},
	})
	switch code {
	case codes.OK:
		if quiet[info.FullMethod] {
			e.Debug("csi call")
		} else {
			e.Info("csi call")
		}
		// Lists can be long: responses are for debugging only.
		s.log.WithFields(logrus.Fields{"method": path.Base(info.FullMethod), "response": lazy{resp}}).Debug("csi response")
	case codes.Internal, codes.Unknown, codes.Unavailable, codes.DeadlineExceeded, codes.DataLoss:
		e.WithField("error", status.Convert(err).Message()).Warn("csi call failed")
	default:
		if device {
			e.WithField("error", status.Convert(err).Message()).Warn("csi call failed: a device refused")
			break
		}
		e.WithField("error", status.Convert(err).Message()).Info("csi call refused")
	}
	return resp, err
}

// lazy strips secrets only when an entry is written, not for every call
// that a level filters out; text formatters call String, JSON MarshalText.
type lazy struct{ msg any }

func (l lazy) String() string { return protosanitizer.StripSecrets(l.msg).String() }

func (l lazy) MarshalText() ([]byte, error) { return []byte(l.String()), nil }
